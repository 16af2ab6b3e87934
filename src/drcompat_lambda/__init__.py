"""The Lambda adapter: Mangum + Powertools around the core's FastAPI app.

Kept apart from ``drcompat`` so the core never imports AWS tooling; the function folders in
``functions/`` only pick which app to wrap.
"""
