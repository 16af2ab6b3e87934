"""ManagementFunction: DataRobot's management API (deployments, imported models, tokens).

The one zip function that may write the bucket (deployments.yaml and models/); prediction
functions stay read-only and see its writes within their registry refresh time.
"""

from drcompat_lambda.handler import build_handler

handler, full_app = build_handler("drcompat-management", warm=False, direct=False)
app = full_app.app()
