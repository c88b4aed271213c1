"""Drives hoclieu's tus endpoint with tuspy, a tus client written elsewhere.

Usage: tus_client.py UPLOADS_URL API_KEY FILE METADATA_JSON
Uploads a third of FILE in 256 KiB chunks, stops (as a dropped connection would), then a new
client resumes from the offset the server reports and finishes. Prints a JSON line.
"""
import json
import os
import sys

from tusclient import client

url, token, path, metadata = sys.argv[1:5]
headers = {"Authorization": "Bearer " + token}
name = os.path.basename(path)

first = client.TusClient(url, headers=headers).uploader(
    path, chunk_size=256 * 1024, metadata={"filename": name, "metadata": metadata}, upload_checksum=True
)
size = first.get_file_size()
while first.offset < size // 3:
    first.upload_chunk()
interrupted_at = first.offset

# A new client, as after the app or browser restarted, knowing only the upload's URL.
second = client.TusClient(url, headers=headers).uploader(path, chunk_size=512 * 1024, url=first.url, upload_checksum=True)
resumed_from = second.offset
second.upload()

print(json.dumps({"url": first.url, "interrupted_at": interrupted_at, "resumed_from": resumed_from, "final": second.offset}))
