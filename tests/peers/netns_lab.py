"""A host with a Docker-published port, in network namespaces (the host's own firewall is
never touched), for block_ip's nftables backend.

    client (45.155.205.7, .8, .9) --veth-- host (45.155.205.1) --veth-- container (172.31.0.2)

- container: busybox httpd on 172.31.0.2:80 (the app);
- host: what Docker does to publish it: a DNAT in nat prerouting (priority dstnat, -100)
  of tcp/8080 to 172.31.0.2:80, and a forward filter chain (policy drop) accepting the
  published traffic; plus a server of the host's own on 45.155.205.1:8081;
- client: connects from one of its addresses (`reaches(source, port)`).

    lab = NetLab.start(tmp)
    lab.nft                      # argv prefix that runs nft in the host's namespace
    lab.reaches("45.155.205.7")  # an HTTP reply through the published port?
    lab.stop()
"""

from __future__ import annotations

import functools
import subprocess
import uuid
from pathlib import Path

from tests.support import Process, wait_for

HOST_IP, CONTAINER_IP = "45.155.205.1", "172.31.0.2"
CLIENTS = ("45.155.205.7", "45.155.205.8", "45.155.205.9")
PUBLISHED, OWN = 8080, 8081
DOCKER_LIKE = [  # the rules Docker adds to publish CONTAINER_IP:80 as HOST:8080
    "add table ip lab_docker",
    "add chain ip lab_docker prerouting { type nat hook prerouting priority -100; }",
    f"add rule ip lab_docker prerouting tcp dport {PUBLISHED} dnat to {CONTAINER_IP}:80",
    "add chain ip lab_docker forward { type filter hook forward priority 0; policy drop; }",
    "add rule ip lab_docker forward ct state established,related accept",
    f"add rule ip lab_docker forward ip daddr {CONTAINER_IP} tcp dport 80 accept",
]
# A client's HTTP GET from a chosen source address; prints the status line's code.
GET = """\
import socket, sys
s = socket.create_connection((sys.argv[2], int(sys.argv[3])), timeout=1.5,
                             source_address=(sys.argv[1], 0))
s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
print(s.recv(64).split()[1].decode())
"""


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


class NetLab:
    def __init__(self, base: Path) -> None:
        tag = uuid.uuid4().hex[:6]
        self.base = base
        self.host, self.client, self.container = (f"rw{tag}-{n}" for n in ("h", "c", "k"))
        self.nft = ["ip", "netns", "exec", self.host, "nft"]
        self.servers: list[Process] = []

    @classmethod
    def start(cls, base: Path) -> NetLab:
        lab = cls(base)
        try:
            lab._wire()
            lab._serve()
        except BaseException:
            lab.stop()
            raise
        return lab

    def _wire(self) -> None:
        for ns in (self.host, self.client, self.container):
            ip("netns", "add", ns)
            ip("-n", ns, "link", "set", "lo", "up")
        self._link(self.client, [f"{a}/24" for a in CLIENTS], f"{HOST_IP}/24")
        self._link(self.container, [f"{CONTAINER_IP}/24"], "172.31.0.1/24")
        ip("-n", self.container, "route", "add", "default", "via", "172.31.0.1")
        self.exec(self.host, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        self.exec(self.host, "nft", "; ".join(DOCKER_LIKE))

    def _link(self, ns: str, addresses: list[str], host_address: str) -> None:
        """A veth pair between `ns` and the host, with `addresses` on the `ns` side."""
        there = f"veth-{ns[-1]}"
        ip("link", "add", "rwlab0", "netns", ns, "type", "veth", "peer", "name", there,
           "netns", self.host)
        for address in addresses:
            ip("-n", ns, "addr", "add", address, "dev", "rwlab0")
        ip("-n", self.host, "addr", "add", host_address, "dev", there)
        ip("-n", ns, "link", "set", "rwlab0", "up")
        ip("-n", self.host, "link", "set", there, "up")

    def _serve(self) -> None:
        www = self.base / "www"
        www.mkdir()
        (www / "index.html").write_text("ok\n")
        for ns, address in ((self.container, f"{CONTAINER_IP}:80"),
                            (self.host, f"{HOST_IP}:{OWN}")):
            self.servers.append(Process(["ip", "netns", "exec", ns, "busybox", "httpd", "-f",
                                         "-p", address, "-h", str(www)],
                                        self.base / f"httpd-{ns}.log").start())
        for port in (PUBLISHED, OWN):
            wait_for(functools.partial(self.reaches, CLIENTS[1], port), timeout=30,
                     what=f"the lab's server on port {port}")

    def exec(self, ns: str, *argv: str) -> str:
        return subprocess.run(["ip", "netns", "exec", ns, *argv], check=True, text=True,
                              capture_output=True, timeout=30).stdout

    def reaches(self, source: str, port: int = PUBLISHED) -> bool:
        """An HTTP 200 from the host's `port`, connecting from `source` (a client address)."""
        result = subprocess.run(["ip", "netns", "exec", self.client, "python3", "-c", GET,
                                 source, HOST_IP, str(port)],
                                capture_output=True, text=True, timeout=30)
        return result.returncode == 0 and result.stdout.strip() == "200"

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
        for ns in (self.host, self.client, self.container):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)
