"""Ansible plugins shipped with Zuul (package data; loaded by ansible-playbook, not imported)."""
