"""Stand-ins for the runbook's production stack, on the tests' real Podman engine:

- nickapp-backend: busybox httpd serving /api/health, from localhost/nickapp-backend:latest
  (v1 good; v2 broken: it logs a missing environment variable and dies 8 s after it
  starts, a crash loop until its restart policy gives up), a Compose service;
- nickapp-mongodb, nickapp-redis: containers of the same names (what `docker ps` shows),
  while the protocols are served by real host processes: nx-27017 (MongoDB wire
  protocol) and redis-server with a password, maxmemory and noeviction;
- watchtower: a container the rollback must stop;
- shkeeper: busybox httpd answering /api/v1/healthcheck like the provider, and an SMTP
  server (aiosmtpd, plain) for the smtp probe.

Every other probe of the bundled config is made to pass (a fresh backup file, the Docker
data directory): the remediations hold back when 4 probes fail at once (`storm`), so a
drill on a host where half the probes fail for want of a peer would only show that gate.

The Compose project lives in a host folder named `backend`, bind-mounted at /opt/backend
in the systemd host: the test and the watchdog inside run Compose on the same file and so
on the same project.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx

from tests.network.conftest import NxMongo
from tests.peers.podman import PodmanPeer
from tests.peers.redis_server import RedisServer
from tests.support import Process, free_port, port_open, wait_for

REPO = "localhost/nickapp-backend"
# The backend says it started, as a real one does (a container that never logs a line is a
# case of its own for the logs probes). v2 is issue 14's bad deploy: it serves for 8 s, then
# dies of a missing environment variable (the logs probe's `missing_env`), and its restart
# policy (on-failure:5) restarts it until it gives up, about 50 s after the deploy: a crash
# loop (the container probe), then nothing listening (the health probe). So the rollback
# decides with all three of the backend's probes failing together.
GOOD = 'echo "nickapp-backend v1 listening on :$PORT"\nexec httpd -f -p 127.0.0.1:$PORT -h /www\n'
BROKEN = ('echo "nickapp-backend v2 listening on :$PORT"\n'
          'httpd -f -p 127.0.0.1:$PORT -h /www &\nsleep 8\n'
          'echo "Error: Missing required environment variable JWT_SECRET"\nexit 1\n')
SHKEEPER = "localhost/shkeeper-standin:1"
STANDIN = "localhost/app:v1"  # the peer's busybox image
REDIS_PASSWORD = "prod-redis-pw-51c0e2"  # a test secret


class Stack:
    def __init__(self, base: Path, podman: PodmanPeer) -> None:
        self.base = base
        self.podman = podman
        self.dir = base / "backend"
        self.dir.mkdir()
        self.compose_file = self.dir / "docker-compose.production.yml"
        self.port = free_port()
        self.good = podman.import_image([f"{REPO}:v1", f"{REPO}:latest"],
                                        files={"app/start.sh": GOOD, "app/release": "v1\n"})
        self.bad = podman.import_image([f"{REPO}:v2"],
                                       files={"app/start.sh": BROKEN, "app/release": "v2\n"})
        podman.import_image([SHKEEPER],
                            files={"www/api/v1/healthcheck": '{"status": "success"}\n'})
        self.shkeeper_port = free_port()
        self.smtp_port = free_port()
        exe = Path(sys.executable).parent / "aiosmtpd"
        self.smtp = Process([str(exe), "-n", "-l", f"127.0.0.1:{self.smtp_port}"],
                            base / "smtp.log")
        self.redis = RedisServer(base, "--maxmemory", "2mb", "--maxmemory-policy",
                                 "noeviction", password=REDIS_PASSWORD)
        self.mongo = NxMongo(base)
        self.compose_file.write_text(self.compose_text())
        (self.dir / ".env").write_text("APP_MODE=production\n")
        # What the bundled config's file probes read: an nginx config with the socket.io
        # location, an empty access log.
        (self.dir / "nginx" / "logs").mkdir(parents=True)
        (self.dir / "nginx" / "logs" / "access.log").write_text("")
        (self.dir / "nginx" / "nginx.conf").write_text(NGINX_CONF)

    def compose_text(self) -> str:
        return textwrap.dedent(f"""\
            # nickapp production stack (the drills' stand-ins)
            version: "3"
            services:
              nickapp-backend:
                # Watchtower moves :latest
                image: {REPO}:latest   # the tag deploys bump
                container_name: nickapp-backend
                network_mode: host
                command: ["sh", "/app/start.sh"]
                environment:
                  PORT: "{self.port}"
                restart: on-failure:5
              mongodb:
                image: {STANDIN}
                container_name: nickapp-mongodb
                network_mode: host
                # MONGO_CRASHES=N (the crash-loop drill): the first N runs of this
                # container die the way a corrupt journal does, then it runs.
                command: ["sh", "-c", "n=$$(cat /runs 2>/dev/null || echo 0); echo $$((n+1)) > /runs; if [ $$n -lt $$CRASHES ]; then echo \\"MongoNetworkError: journal replay failed (run $$n)\\"; exit 1; fi; exec sleep 86400"]
                environment:
                  CRASHES: "${{MONGO_CRASHES:-0}}"
                restart: on-failure:3
              redis:
                image: {STANDIN}
                container_name: nickapp-redis
                network_mode: host
                command: ["sleep", "86400"]
              watchtower:
                image: {STANDIN}
                container_name: watchtower
                network_mode: host
                command: ["sleep", "86400"]
              shkeeper:
                image: {SHKEEPER}
                container_name: shkeeper
                network_mode: host
                command: ["httpd", "-f", "-p", "127.0.0.1:{self.shkeeper_port}", "-h", "/www"]
            """)

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        self.redis.start()
        self.mongo.start()
        self.smtp.start()
        wait_for(lambda: port_open(self.smtp_port), what="the SMTP server")
        done = self.compose("up", "-d")
        assert done.returncode == 0, done.stderr
        wait_for(self.healthy, timeout=60, what="the backend healthy")

    def stop(self) -> None:
        self.compose("down", "--timeout", "1")
        self.redis.process.stop()
        self.mongo.process.stop()
        self.smtp.stop()

    def compose(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["docker-compose", "-f", str(self.compose_file), *args],
                              env={**self.podman.env(), "DOCKER_HOST": self.podman.url, **env},
                              cwd=self.dir, capture_output=True, text=True, timeout=180,
                              check=False)

    def env_file(self, **extra: str) -> str:
        """/etc/runbook-watchdog/watchdog.env: the bundled config's ${VAR}s pointed at the
        stand-ins. The peers the drills do not stand in for (SHKeeper, SMTP, Alertmanager)
        Alertmanager gets a free loopback port of its own (nothing listens: notifications
        are retried, which the drills do not look at), so the daemon never talks to
        another session's services."""
        values = {
            "BACKEND_HEALTH_URL": self.health_url,
            "MONGO_URI": self.mongo.uri,
            "REDIS_URL": self.redis.url,
            "REDIS_PASSWORD": REDIS_PASSWORD,
            "SHKEEPER_API_URL": f"http://127.0.0.1:{self.shkeeper_port}",
            "SHKEEPER_API_KEY": "shkeeper-key-drill",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.smtp_port),
            "SMTP_TLS": "none",
            "ALERTMANAGER_URL": f"http://127.0.0.1:{free_port()}",
            "MAIL_DOMAIN": "drill.invalid",
            **extra,
        }
        return "".join(f"{key}={value}\n" for key, value in values.items())

    # -- observations -------------------------------------------------------------------------
    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/health"

    def healthy(self) -> bool:
        try:
            return httpx.get(self.health_url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def attrs(self, name: str) -> dict[str, Any]:
        attrs: dict[str, Any] = self.podman.client().api.inspect_container(name)
        return attrs

    def image(self, name: str = "nickapp-backend") -> str:
        return str(self.attrs(name)["Image"])

    def running(self, name: str) -> bool:
        return bool(self.attrs(name)["State"]["Running"])

    # -- what goes wrong ------------------------------------------------------------------------
    def deploy_broken(self) -> None:
        """Watchtower's move: `:latest` names the broken image, the service is recreated."""
        self.podman.client().images.get(self.bad).tag(REPO, "latest")
        done = self.compose("up", "-d", "nickapp-backend")
        assert done.returncode == 0, done.stderr
        assert self.image() == self.bad


NGINX_CONF = """\
events {}
http {
  server {
    listen 80;
    location /socket.io/ {
      proxy_pass http://127.0.0.1:3000;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
      proxy_read_timeout 3600s;
    }
  }
}
"""
