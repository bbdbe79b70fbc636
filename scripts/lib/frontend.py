# Runs SyncEvolution's HTTP front end (syncevo-http-server) with Debian's python and binds it to
# 127.0.0.1 only: the packaged script has a broken #!@PYTHON@ line and listens on all interfaces.
# Usage: python3 frontend.py /usr/bin/syncevo-http-server [its arguments]; SE_LISTEN_PORT=N makes
# it listen on N instead of the port of its base URL (which it still puts into RespURI).
# Shared by tests/it/interop/reference.rs and the scripts in scripts/.
import os, runpy, sys
from twisted.internet import gireactor
_install = gireactor.install
def _install_loopback(*a, **kw):
    result = _install(*a, **kw)
    from twisted.internet import reactor
    listen = reactor.listenTCP
    override = os.environ.get("SE_LISTEN_PORT")
    def listen_loopback(port, factory, backlog=50, interface=""):
        return listen(int(override) if override else port, factory, backlog, "127.0.0.1")
    reactor.listenTCP = listen_loopback
    return result
gireactor.install = _install_loopback
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
