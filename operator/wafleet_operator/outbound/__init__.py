"""A SenderPool's AWS half: its queues and its subscription to the outbound topic.

`resources.py` decides (pure: names, policies, whose queue a queue is);
`aws.py` does (boto3 against SQS and SNS, idempotent ensure and delete).
"""
