"""The studio app: `create_app(Settings(...))` -> a FastAPI app with the JSON API under
/api/ (OpenAPI page at /docs) and the page at / (all its assets served from this package:
it works with no network)."""
import contextlib
import logging
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from musiczoo.serve import api
from musiczoo.serve.settings import Settings
from musiczoo.serve.store import ResultStore
from musiczoo.serve.work import Workshop
from musiczoo.version import __version__

STATIC = Path(__file__).resolve().parent / "static"
log = logging.getLogger("musiczoo")


def create_app(settings=None):
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app):
        for name in settings.preload:  # loaded, and kept warm, before the first request
            app.state.workshop.model(name)
        yield
        app.state.store.close()

    app = FastAPI(title="musiczoo studio", version=__version__, lifespan=lifespan,
                  description="Generate, compose, continue, vary and interpolate music with "
                              "musiczoo's bundles; every result has MIDI, WAV and a piano roll.")
    app.state.settings = settings
    app.state.store = ResultStore(settings.results_dir, settings.result_ttl_seconds,
                                  settings.max_results)
    app.state.workshop = Workshop(settings.workers, settings.queue)
    app.include_router(api.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.exception_handler(Exception)
    def unexpected(request, error):  # a bug: logged with its traceback, a plain 500 out
        log.exception("error answering %s", request.url.path)
        return JSONResponse({"detail": "internal error (logged on the server)"}, 500)

    return app
