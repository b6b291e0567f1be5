"""The rule table: one module per code, registered here in order. The order is the precedence."""

from pipdoctor.rules import (
    pd101_cache_permission_denied,
    pd102_cache_disabled,
    pd105_disk_full,
    pd106_read_only_filesystem,
    pd107_cache_corrupt,
    pd108_cached_local_wheel,
    pd201_home_missing,
    pd301_install_target_permission_denied,
    pd302_externally_managed_environment,
    pd303_temp_dir_problem,
    pd304_build_failed,
    pd399_other_permission_denied,
)

# A full disk or a read-only mount explains every error after it; a missing HOME explains the cache
# errors; a cache error explains the failed build it caused; PD399 is the catch-all, and an explained
# permission error (PD399) outranks the failed build it caused (PD304).
RULES = (
    pd105_disk_full,
    pd106_read_only_filesystem,
    pd201_home_missing,
    pd101_cache_permission_denied,
    pd102_cache_disabled,
    pd107_cache_corrupt,
    pd302_externally_managed_environment,
    pd301_install_target_permission_denied,
    pd303_temp_dir_problem,
    pd399_other_permission_denied,
    pd304_build_failed,
    pd108_cached_local_wheel,
)

RULE_ORDER = {rule.CODE: index for index, rule in enumerate(RULES)}
RULES_BY_CODE = {rule.CODE: rule for rule in RULES}
TRIGGERS = tuple(dict.fromkeys(trigger for rule in RULES for trigger in rule.TRIGGERS))
CAPTURES = tuple(dict.fromkeys(capture for rule in RULES for capture in getattr(rule, "CAPTURES", ())))
