"""lapsewatch's tools: everything around the product that never runs in AWS.

The `lapsewatch` command line, the local runner (AWS on moto, a loopback RDAP server), the
reference registry with its demo data, and the lifecycle simulator. The dev venv installs them
beside the runtime package (`lapsewatch`, the Lambda layer); the layer never ships them, and the
runtime never imports them.
"""
