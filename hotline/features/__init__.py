"""The features, each wiring itself: ``load(deps, ...) -> Feature`` builds a
feature's services with the clients it is given, and returns them with what the
composition root runs for it (AGI handlers, web routes, AMI subscriptions,
background tasks, start hooks, closers). `hotline.app.compose` orders them.

They live here, at the top with the composition root, not in the domain
packages: a loader reads the settings and knows its neighbours' bundles, and no
domain package may import `hotline`.
"""
