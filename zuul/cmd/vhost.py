"""``zuul-apache-vhost``: render the Apache vhost for a deployment description."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from zuul import apache
from zuul.lib.config import exit_on_config_error


@exit_on_config_error
def main(argv: list[str] | None = None) -> None:
    """Console script entry point."""
    parser = argparse.ArgumentParser(
        prog="zuul-apache-vhost",
        description="Render the Apache vhost that fronts Zuul and Nodepool.")
    parser.add_argument("-c", "--config", required=True, help="deployment YAML file")
    parser.add_argument("-o", "--output", help="write the vhost here instead of stdout")
    parser.add_argument("--standalone", metavar="DIR",
                        help="write a self-contained httpd.conf (+ vhost.conf) into DIR, "
                             "runnable with 'apache2 -f DIR/httpd.conf' without /etc/apache2")
    parser.add_argument("--port", type=int, help="with --standalone: override the port")
    args = parser.parse_args(argv)
    deployment = apache.load_deployment(args.config)
    if args.standalone:
        conf = apache.write_standalone(deployment, Path(args.standalone), args.port)
        print(conf)
        return
    text = apache.render_vhost(deployment)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
