"""Pure domain core: labels, agreements, policy, items, audit. No IO."""
