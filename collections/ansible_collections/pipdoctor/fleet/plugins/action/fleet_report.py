# -*- coding: utf-8 -*-
# Copyright: pipdoctor's authors
# MIT License (see the repository's LICENSE / setup.cfg)
"""fleet_report runs in the controller's own process (as ansible.builtin.debug and fetch do): the report is
the control node's, and a module would pay a Python start-up and a transfer for data the controller holds."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import tempfile

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.action import ActionBase
from ansible_collections.pipdoctor.fleet.plugins.module_utils.report import build_report, render_table


def write_if_different(path, text, check_mode):
    """Write text to path through a temp file in its directory and a rename; True when the content changed."""
    try:
        with open(path, "r") as current:
            if current.read() == text:
                return False
    except (IOError, OSError):
        pass
    if not check_mode:
        fd, temp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".fleet-report-")
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.chmod(temp, 0o644)
        os.rename(temp, path)
    return True


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("results", "dest"))
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        dummy, args = self.validate_argument_spec(argument_spec=dict(
            results=dict(type="dict", required=True),
            dest=dict(type="path", required=True),
        ))
        report = build_report(args["results"])
        table = render_table(report)
        dest = args["dest"]
        json_path, table_path = os.path.join(dest, "fleet-report.json"), os.path.join(dest, "fleet-report.txt")
        check_mode = self._task.check_mode
        try:
            if not check_mode and not os.path.isdir(dest):
                os.makedirs(dest)
            changed = write_if_different(json_path, json.dumps(report, indent=2, sort_keys=True) + "\n", check_mode)
            changed = write_if_different(table_path, table, check_mode) or changed
        except (IOError, OSError) as error:
            raise AnsibleActionFail("cannot write the fleet report in %s: %s" % (dest, to_native(error)))
        result.update(changed=changed, report=report, table=table, json_path=json_path, table_path=table_path)
        return result
