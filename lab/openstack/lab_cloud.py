"""The lab cloud's Keystone, as its Python scripts connect to it (one place for the URL, domains and API version)."""
import os

import openstack

AUTH_URL = "http://127.0.0.1:5000/v3"


def connect(username, password, project, region=None):
    return openstack.connect(
        auth_url=AUTH_URL,
        username=username,
        password=password,
        project_name=project,
        user_domain_name="Default",
        project_domain_name="Default",
        region_name=region,
        identity_api_version="3",
    )


def admin(region="RegionOne"):
    """The cloud's admin, with the password cloud.sh passes in OS_PASSWORD."""
    return connect("admin", os.environ["OS_PASSWORD"], "admin", region)
