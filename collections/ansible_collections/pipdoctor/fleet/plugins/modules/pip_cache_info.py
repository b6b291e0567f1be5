#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pipdoctor's authors
# MIT License (see the repository's LICENSE / setup.cfg)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: pip_cache_info
short_description: Check pip's (and uv's) caches and homes on a node with pipdoctor
description:
  - Runs C(pipdoctor --json check) on the managed node and returns its document as the fact
    C(ansible_facts.pipdoctor), with a short RV(summary).
  - pipdoctor checks uv's cache too wherever an account uses uv; each finding names its installer (C(tool)),
    and RV(summary.tools) summarises each installer's findings.
  - Never changes anything. Fails only when pipdoctor itself fails (its exit status 2, for an unknown user
    or a usage error), not when it finds problems.
  - pipdoctor must be installed on the node, for example with the role P(pipdoctor.fleet.install#role).
version_added: "0.1.0"
author:
  - pipdoctor's authors (@pipdoctor)
options:
  user:
    description:
      - Check this account's cache and home (C(pipdoctor check --user NAME)); needs root on the node.
      - Mutually exclusive with O(all_users). Without either, the account the module runs as is checked.
    type: str
  all_users:
    description:
      - Check every account that can run pip with a cache of its own (C(pipdoctor check --all-users)); needs
        root on the node.
    type: bool
    default: false
  executable:
    description:
      - Path of pipdoctor on the node.
      - Default is the role's install location C(/opt/pipdoctor/venv/bin/pipdoctor), else C(pipdoctor) on E(PATH).
    type: path
requirements:
  - pipdoctor on the managed node (the version that ships with this collection)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.facts
attributes:
  check_mode:
    support: full
    details: The module never changes anything; it runs the same check in check mode.
  diff_mode:
    support: none
  facts:
    support: full
  platform:
    platforms: posix
notes:
  - The facts are pipdoctor's C(check) document, unchanged (its JSON Schema is C(docs/schemas/check.schema.json)
    in pipdoctor's repository). New keys may appear; C(schema_version) changes only on an incompatible change.
seealso:
  - module: pipdoctor.fleet.pip_cache_fix
"""

EXAMPLES = r"""
- name: Check every account's pip cache
  pipdoctor.fleet.pip_cache_info:
    all_users: true
  become: true
  register: triage

- name: Show the codes found on this host
  ansible.builtin.debug:
    msg: "{{ triage.summary.codes }} (worst {{ triage.summary.worst }})"

- name: Check one user's cache
  pipdoctor.fleet.pip_cache_info:
    user: alice
  become: true
"""

RETURN = r"""
ansible_facts:
  description: Facts about pip's caches on the node.
  returned: always
  type: complex
  contains:
    pipdoctor:
      description:
        - pipdoctor's C(check) document (README "JSON output"), C(accounts) with one object per account checked
          (C(user), C(uid), C(home), C(cache) (pip's), C(caches) (one per installer checked, each with its
          C(tool), pip's and uv's where the account uses uv), C(findings), each with its C(tool)) and
          C(findings), all of them account by account.
      returned: always
      type: dict
      sample:
        schema_version: 1
        command: check
        exit_code: 1
        accounts:
          - user: alice
            uid: 1000
            home: /home/alice
            cache: {path: /home/alice/.cache/pip, disabled: false, source: default}
            caches:
              - {tool: pip, path: /home/alice/.cache/pip, disabled: false, source: default}
              - {tool: uv, path: /home/alice/.cache/uv, disabled: false, source: platform default}
            findings:
              - code: PD103
                tool: uv
                name: cache-foreign-owned
                severity: error
        findings: []
summary:
  description: The document in short.
  returned: always
  type: dict
  contains:
    accounts:
      description: How many accounts were checked.
      type: int
      sample: 3
    codes:
      description: The distinct codes found (every installer's), sorted.
      type: list
      elements: str
      sample: [PD103]
    worst:
      description: The most severe finding's severity (C(error), C(warning), C(info)), or null when nothing was found.
      type: str
      sample: error
    needs_care:
      description: The accounts with a warning or error finding (a name, or C(uid:N) without passwd entry).
      type: list
      elements: str
      sample: [alice]
    tools:
      description:
        - The same per installer whose cache was checked (C(pip), and C(uv) where an account uses uv), each with
          C(accounts) (how many accounts had that cache checked), C(codes), C(worst) and C(needs_care).
      type: dict
      sample: {pip: {accounts: 3, codes: [], worst: null, needs_care: []},
               uv: {accounts: 1, codes: [PD103], worst: error, needs_care: [alice]}}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.pipdoctor.fleet.plugins.module_utils import pipdoctor


def main():
    module = AnsibleModule(
        argument_spec=dict(
            user=dict(type="str"),
            all_users=dict(type="bool", default=False),
            executable=dict(type="path"),
        ),
        mutually_exclusive=[("user", "all_users")],
        supports_check_mode=True,
    )
    argv = pipdoctor.command(pipdoctor.executable(module), "check", user=module.params["user"],
                             all_users=module.params["all_users"])
    document = pipdoctor.run(module, argv, "check")
    module.exit_json(changed=False, ansible_facts=dict(pipdoctor=document),
                     summary=pipdoctor.check_summary(document))


if __name__ == "__main__":
    main()
