"""Built-in plugins: registered through the same hooks as any third-party package.

The core has no code specific to any record variant; it all lives here.
"""
