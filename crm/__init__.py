"""The warehouse itself: contract, loader, identity, CLV, publication, the `crm` command."""
