#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pipdoctor's authors
# MIT License (see the repository's LICENSE / setup.cfg)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: pip_cache_fix
short_description: Repair an account's pip (and uv) cache with pipdoctor, or undo the repair
description:
  - Runs C(pipdoctor --json fix --yes) on the managed node for one account and returns the plan, what was
    applied and the journal. As root, pipdoctor gives entries that belong to someone else back to the cache's
    owner (only inside the cache, never through a symlink or a hard link), journaled first in
    C(/var/lib/pipdoctor/journals/UID/) on the node.
  - pipdoctor repairs uv's cache too wherever the account uses uv (one journal per cache); RV(tools) reports
    each cache's plan, changes and check after the fix, and O(tool) limits the fix to one installer's cache.
  - In check mode it runs C(pipdoctor fix --dry-run) and reports what would change; nothing changes.
  - C(changed) is true only when pipdoctor changed an owner or a name in any cache; a second run on a cured
    cache reports no change.
  - With O(undo=true) it runs C(pipdoctor fix --undo --yes) and reverts the newest fix of that account from
    its journals (every cache it changed), giving back the exact previous owners and names.
  - pipdoctor must be installed on the node, for example with the role P(pipdoctor.fleet.install#role).
version_added: "0.1.0"
author:
  - pipdoctor's authors (@pipdoctor)
options:
  user:
    description:
      - The account whose cache is repaired (C(pipdoctor fix --user NAME)); needs root on the node.
      - Without it, the account the module runs as.
    type: str
  executable:
    description:
      - Path of pipdoctor on the node.
      - Default is the role's install location C(/opt/pipdoctor/venv/bin/pipdoctor), else C(pipdoctor) on E(PATH).
    type: path
  tool:
    description:
      - Only this installer's cache (C(pipdoctor fix --tool pip|uv)). The fix covers only that cache, and with
        O(undo=true) the undo reverts only the newest fix of that cache.
      - Without it, pip's cache and uv's where the account uses uv (an undo reverts every cache of the newest fix).
    type: str
    choices: [pip, uv]
  undo:
    description:
      - Revert the newest fix of the account instead of fixing (C(pipdoctor fix --undo)).
      - pipdoctor has no dry run of an undo, so in check mode nothing runs and C(changed) is false.
    type: bool
    default: false
  persist:
    description:
      - When the cure is another cache, also make pip use it from now on (C(pip config --user set
        global.cache-dir), C(pipdoctor fix --persist)); uv has no such command, so it is pip's cache only.
      - Not allowed with O(undo=true).
    type: bool
    default: false
requirements:
  - pipdoctor on the managed node (the version that ships with this collection)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Runs C(pipdoctor fix --dry-run) and reports the plan; an undo is not run in check mode.
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - The task fails when pipdoctor refuses before any change (exit status 2, for example an unknown user or an
    unsafe cache root) and when something remains after the fix (exit status 1, for example entries skipped
    or a problem a fix cannot cure); the result still holds the plan and what was applied.
  - The documents are pipdoctor's C(fix) and C(fix --undo) JSON (C(docs/schemas/fix.schema.json) and
    C(docs/schemas/fix-undo.schema.json) in pipdoctor's repository).
seealso:
  - module: pipdoctor.fleet.pip_cache_info
"""

EXAMPLES = r"""
- name: Show what a fix of alice's cache would change
  pipdoctor.fleet.pip_cache_fix:
    user: alice
  check_mode: true
  become: true
  register: plan

- name: Repair alice's cache
  pipdoctor.fleet.pip_cache_fix:
    user: alice
  become: true
  register: repair

- name: Say whether uv's cache changed too
  ansible.builtin.debug:
    msg: "uv's cache changed: {{ repair.tools.uv.changed | default(false) }}"

- name: Undo that repair
  pipdoctor.fleet.pip_cache_fix:
    user: alice
    undo: true
  become: true

- name: Repair only alice's uv cache
  pipdoctor.fleet.pip_cache_fix:
    user: alice
    tool: uv
  become: true
"""

RETURN = r"""
plan:
  description:
    - pipdoctor's plan of the first cache with one (C(tool), C(cache_root), C(user), C(uid), C(gid),
      C(needs_root), C(refused) and C(steps), each with C(tool), C(kind), C(code), C(command), C(changes_files)
      and C(targets)), or null when nothing needs fixing. Every cache's plan is in RV(tools).
  returned: unless undo
  type: dict
planned_changes:
  description:
    - Whether a cache's plan has a step that changes files (a chown, a rename). False when nothing needs fixing,
      when pipdoctor refuses the cache, and when every step is only explained (a problem no fix here cures).
  returned: unless undo
  type: bool
  sample: true
applied:
  description:
    - What the fix applied to the cache of RV(plan) (C(journal), C(chowned), C(renamed), C(restored),
      C(already), C(skipped_count), C(skipped)); null in check mode and when nothing was applied.
  returned: unless undo
  type: dict
journal:
  description:
    - The journal of the fix of the cache of RV(plan), or of the newest fix the undo reverted, on the node; null
      when none. Every cache's journal is in RV(tools) and RV(journals).
  returned: always
  type: str
  sample: /var/lib/pipdoctor/journals/1000/20260101T000000Z-1234.jsonl
before:
  description:
    - The account's check before the fix of the cache of RV(plan) (an account as in
      P(pipdoctor.fleet.pip_cache_info#module)'s facts).
  returned: unless undo
  type: dict
after:
  description: The account's check after the fix of the cache of RV(plan); null when nothing was applied.
  returned: unless undo
  type: dict
note:
  description: Why nothing (more) was applied, or null.
  returned: unless undo
  type: str
tools:
  description:
    - Each cache the fix covered, by installer (C(pip), and C(uv) where the account uses uv), in the order
      pipdoctor applied them.
  returned: unless undo
  type: dict
  contains:
    changed:
      description: Whether the fix changed an owner or a name in this cache (would, in check mode).
      type: bool
    planned_changes:
      description: Whether this cache's plan has a step that changes files.
      type: bool
    plan:
      description: This cache's plan, as RV(plan).
      type: dict
    applied:
      description: What the fix applied to this cache, as RV(applied); null in check mode and when nothing was applied.
      type: dict
    journal:
      description: This cache's journal on the node; null when none.
      type: str
    before:
      description: The check of this cache before the fix.
      type: dict
    after:
      description: The check of this cache after the fix; null when nothing was applied.
      type: dict
  sample: {pip: {changed: true, planned_changes: true, journal: /var/lib/pipdoctor/journals/1000/T.jsonl},
           uv: {changed: true, planned_changes: true, journal: /var/lib/pipdoctor/journals/1000/T-2.jsonl}}
undone:
  description:
    - What the undo restored from the newest journal (C(restored), C(already), C(skipped_count), C(skipped),
      C(renamed), C(journal)); null in check mode.
  returned: when undo
  type: dict
journals:
  description:
    - What the undo restored from each journal it reverted (one per cache the fix changed), newest first, each
      as RV(undone); empty in check mode.
  returned: when undo
  type: list
  elements: dict
exit_code:
  description: pipdoctor's exit status (README "Exit codes").
  returned: when pipdoctor ran
  type: int
  sample: 0
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.pipdoctor.fleet.plugins.module_utils import pipdoctor

# README "Exit codes": fix and fix --undo exit 1 when something remains (skipped entries, not cured).
EXIT_REMAINS = 1


def main():
    module = AnsibleModule(
        argument_spec=dict(
            user=dict(type="str"),
            executable=dict(type="path"),
            tool=dict(type="str", choices=["pip", "uv"]),
            undo=dict(type="bool", default=False),
            persist=dict(type="bool", default=False),
        ),
        mutually_exclusive=[("undo", "persist")],
        supports_check_mode=True,
    )
    params = module.params
    exe = pipdoctor.executable(module)
    if params["undo"]:
        if module.check_mode:
            module.exit_json(changed=False, journal=None, undone=None, journals=[],
                             msg="pipdoctor has no dry run of an undo; nothing ran in check mode")
        argv = pipdoctor.command(exe, "fix", user=params["user"], tool=params["tool"], extra=["--undo", "--yes"])
        result = pipdoctor.undo_result(pipdoctor.run(module, argv, "fix --undo"))
    else:
        extra = ["--dry-run"] if module.check_mode else ["--yes"]
        if params["persist"]:
            extra.append("--persist")
        argv = pipdoctor.command(exe, "fix", user=params["user"], tool=params["tool"], extra=extra)
        result = pipdoctor.fix_result(pipdoctor.run(module, argv, "fix"), module.check_mode)
        if module.check_mode:  # a dry run exits 1 whenever there is something to do: that is its answer
            module.exit_json(**result)
    if result["exit_code"] == EXIT_REMAINS:
        module.fail_json(msg=result.get("note") or "pipdoctor: something remains (exit 1)", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
