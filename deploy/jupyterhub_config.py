# The dashboard as a JupyterHub-managed service (README, "Past one machine"): the hub starts it,
# restarts it when it dies, and its proxy routes /services/digits/ to it, beside the hub's own
# users' servers. Voilà does not check hub logins, so the service is open to whoever reaches the
# proxy, as the dashboard itself is. For more visitors than one process serves, run several
# such services (one per pair of cores) or deploy/nginx.conf in front of several processes.
#
# `jupyterhub -f deploy/jupyterhub_config.py`, from the checkout, after `make dashboard` once.
import os

c = get_config()  # noqa: F821 - provided by JupyterHub when it reads this file

checkout = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
python = os.path.join(checkout, ".venv", "bin", "python")

c.JupyterHub.services = [
    {
        "name": "digits",
        "url": "http://127.0.0.1:8866",
        "cwd": checkout,
        "command": [
            python,
            "-m",
            "digitlib.serve",
            "--host=127.0.0.1",
            "--port=8866",
            "--pool-size=22",
            "--Voila.base_url=/services/digits/",  # served under the service's prefix
        ],
    }
]
