"""A multi-client DTensor mesh on one machine, over loopback (tests, benchmarks, development).

Each client is a process of its own; DTensor finds the others through the
DTENSOR_* variables, which must be set before the mesh is made
(`glam_tf.sharding.make_mesh`). No TensorFlow here.
"""

from __future__ import annotations

import socket


def free_ports(count: int) -> list:
    """`count` TCP ports on 127.0.0.1 that were free a moment ago."""
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def client_env(client_id: int, ports) -> dict:
    """The DTENSOR_* variables of client `client_id` of a mesh with one client per port."""
    return {"DTENSOR_CLIENT_ID": str(client_id), "DTENSOR_NUM_CLIENTS": str(len(ports)),
            "DTENSOR_JOB_NAME": "worker",
            "DTENSOR_JOBS": ",".join(f"localhost:{port}" for port in ports)}
