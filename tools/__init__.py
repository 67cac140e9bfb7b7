"""Operator tools shipped inside cmcluster.pyz: log inspection, emergency takeover."""
