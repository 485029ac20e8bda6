"""Payment providers: one module per provider, all behind the `Provider` protocol in `base`.

`registry.build_providers(settings, http)` builds the providers whose settings are present.
"""
