#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pipdoctor's authors
# MIT License (see the repository's LICENSE / setup.cfg)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: fleet_report
short_description: Write one report of pip cache problems for a whole fleet
description:
  - Gathers the registered results of M(pipdoctor.fleet.pip_cache_info) of many hosts into one report, written
    on the host it runs on (the control node, in the triage playbook) as JSON (host, then accounts, then
    findings) and as a table a person can read (hosts by codes, worst first).
  - A host whose result says it was unreachable, or that its check failed, is listed as such.
version_added: "0.1.0"
author:
  - pipdoctor's authors (@pipdoctor)
options:
  results:
    description:
      - The registered pip_cache_info result of each host, by inventory name (register it with
        C(ignore_unreachable) and C(ignore_errors), so every host has one).
    type: dict
    required: true
  dest:
    description:
      - The directory the report is written to, as C(fleet-report.json) and C(fleet-report.txt); made if missing.
    type: path
    required: true
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: In check mode the report is built and returned but not written.
  diff_mode:
    support: none
  platform:
    platforms: posix
seealso:
  - module: pipdoctor.fleet.pip_cache_info
"""

EXAMPLES = r"""
- name: Check every host
  pipdoctor.fleet.pip_cache_info:
    all_users: true
  register: pipdoctor_triage
  ignore_unreachable: true
  ignore_errors: true

- name: Write the fleet report on the control node
  pipdoctor.fleet.fleet_report:
    results: "{{ dict(ansible_play_hosts_all | zip(ansible_play_hosts_all | map('extract', hostvars, 'pipdoctor_triage'))) }}"
    dest: ./pipdoctor-report
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
report:
  description:
    - The report, C(hosts) by inventory name, each with C(status) (C(ok), C(unreachable), C(failed)), C(message),
      C(worst) and C(accounts) by user name (C(uid), C(home), C(cache), C(findings)), and a C(summary).
  returned: always
  type: dict
table:
  description: The readable table, as written to C(fleet-report.txt).
  returned: always
  type: str
json_path:
  description: The JSON report's path.
  returned: always
  type: str
table_path:
  description: The table's path.
  returned: always
  type: str
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.pipdoctor.fleet.plugins.module_utils.report import build_report, render_table


def write_if_different(module, path, text):
    """Write text to path through a temp file and an atomic move; True when the content changed."""
    try:
        with open(path, "r") as current:
            if current.read() == text:
                return False
    except (IOError, OSError):
        pass
    if not module.check_mode:
        temp = path + ".tmp"
        with open(temp, "w") as out:
            out.write(text)
        module.atomic_move(temp, path)
    return True


def main():
    module = AnsibleModule(
        argument_spec=dict(
            results=dict(type="dict", required=True),
            dest=dict(type="path", required=True),
        ),
        supports_check_mode=True,
    )
    report = build_report(module.params["results"])
    table = render_table(report)
    dest = module.params["dest"]
    json_path, table_path = os.path.join(dest, "fleet-report.json"), os.path.join(dest, "fleet-report.txt")
    if not module.check_mode and not os.path.isdir(dest):
        os.makedirs(dest)
    changed = write_if_different(module, json_path, json.dumps(report, indent=2, sort_keys=True) + "\n")
    changed = write_if_different(module, table_path, table) or changed
    module.exit_json(changed=changed, report=report, table=table, json_path=json_path, table_path=table_path)


if __name__ == "__main__":
    main()
