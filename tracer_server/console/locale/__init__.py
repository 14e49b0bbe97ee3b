"""The console's message catalogs ({vi,en}/LC_MESSAGES/messages.po and .mo) and ``regenerate`` (``make i18n``)."""
