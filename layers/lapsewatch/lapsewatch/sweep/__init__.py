"""The daily sweep: dispatch the registry's domains in shards, check them, unverify the unsafe.

Plain logic with its AWS access behind `store` (DynamoDB) and `queues` (SQS); the Lambda
handlers in functions/ only parse events and call into `handlers`.
"""
