"""Engines: what talks to WhatsApp (browser, protocol, local), behind one interface."""
