"""LoanScore training tool."""
