"""Code every edge function uses: the error shape and request context."""
