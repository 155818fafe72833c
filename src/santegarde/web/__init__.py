"""The web console: server-rendered pages in French for the people at the desk, on the API's one path.

Every page calls the same services as the API (``identity.sessions`` for signing in, ``RecordService`` for
every record); the page only draws what they decide. See ``web/app.py`` for the console's headers and errors.
"""

from santegarde.web.app import create_console

__all__ = ["create_console"]
