"""fastcommerce's version: apart from the package face, so the modules it imports can name it."""

__version__ = "0.1.0"
