"""`fabless ui`: a local web page to change the model, chip, precision or plan and watch the
estimate, its error bands, a comparison across chips and $/Mtoken move (the ``ui`` extra:
FastAPI, uvicorn, plotly). ``fabless.ui.app`` holds the application; importing this package
imports nothing else, so the CLI stays fast."""
