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
  - An action that runs on the control node itself, whatever host the task is for (the module file holds
    only its documentation, as ansible.builtin.debug's does).
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
  - ansible.builtin.action_common_attributes.flow
attributes:
  check_mode:
    support: full
    details: In check mode the report is built and returned but not written.
  diff_mode:
    support: none
  platform:
    platforms: posix
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
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
  run_once: true
"""

RETURN = r"""
report:
  description:
    - The report, C(hosts) by inventory name, each with C(status) (C(ok), C(unreachable), C(failed)), C(message),
      C(worst) and C(accounts) by user name (C(uid), C(home), C(cache) (pip's path), C(caches) (each installer's
      C(tool) and C(path), pip's first, uv's where the account uses uv), C(findings), each with its C(tool)),
      and a C(summary) (C(hosts_by_code), hosts with a code in any installer's cache; C(hosts_by_tool), per
      installer). The table names uv's codes C(uv:CODE).
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
