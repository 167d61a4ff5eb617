"""Providers: one folder per kind, each with the same parts (api, request, response,
stream, errors), registered in ``gateway.providers.registry``."""
