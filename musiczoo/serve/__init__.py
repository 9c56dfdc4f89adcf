"""The studio: an HTTP API (FastAPI) and one web page over the same library functions the
console scripts call. `create_app(Settings(...))` builds the app; `musiczoo_serve` runs
it with uvicorn. Needs the `[serve]` extra (fastapi, uvicorn, python-multipart)."""
