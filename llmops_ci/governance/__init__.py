"""Governance and compliance: the promotion ladder, approvals, the audit trail, model cards."""
