"""Print the job's runtime parameters and deployment, read the way DataRobot jobs read them."""

import json
import os
from typing import Any

try:  # DataRobot's own reader, when the environment has datarobot-drum
    from datarobot_drum import RuntimeParameters

    def get(name: str) -> Any:
        return RuntimeParameters.get(name)

except ImportError:  # the same contract, read by hand

    def get(name: str) -> Any:
        return json.loads(os.environ["MLOPS_RUNTIME_PARAM_" + name])["payload"]


names = sorted(key[len("MLOPS_RUNTIME_PARAM_") :] for key in os.environ if key.startswith("MLOPS_RUNTIME_PARAM_"))
for name in names:
    value = get(name)
    if isinstance(value, dict):  # credentials: show the type and which fields are set, never the values
        value = {"credentialType": value.get("credentialType"), "fields": sorted(value)}
    print(f"parameter {name} = {value!r}")

message = get("message") if "message" in names else "Hello"
repeat = int(get("repeat") or 1) if "repeat" in names else 1
if "shout" in names and get("shout"):
    message = message.upper()
for _ in range(repeat):
    print(message)

print("deployment:", get("DEPLOYMENT") if "DEPLOYMENT" in names else None)
print("service endpoint:", os.environ.get("DATAROBOT_ENDPOINT"))
