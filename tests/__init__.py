"""The test suite, mirroring the packages: states/, storage/, workflow/."""
