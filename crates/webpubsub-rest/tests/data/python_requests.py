# Regenerates python_requests.json: the requests the official Python SDK
# (azure-messaging-webpubsubservice 1.3.0) sends for the operations of tests/python_requests.rs,
# as received by a loopback recorder (method, path as sent, query pairs, content type, body).
#
#   python3 -m venv /tmp/wps-py && /tmp/wps-py/bin/pip install azure-messaging-webpubsubservice==1.3.0
#   /tmp/wps-py/bin/python python_requests.py > python_requests.json
import json, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from azure.messaging.webpubsubservice import WebPubSubServiceClient

recorded = []


class Recorder(BaseHTTPRequestHandler):
    def handle_one(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        recorded.append({
            "method": self.command,
            "path": url.path,
            "query": parse_qsl(url.query, keep_blank_values=True),
            "content_type": self.headers.get("content-type"),
            "body": list(body),
        })
        status = {"PUT": 200, "HEAD": 200, "DELETE": 204}.get(self.command, 202)
        if self.command == "POST" and url.path.endswith(":closeConnections"):
            status = 204
        payload = b""
        if self.command == "GET":
            status = 200
            payload = json.dumps({"value": [{"connectionId": "c1", "userId": "u1"}]}).encode()
        self.send_response(status)
        self.send_header("content-length", str(len(payload)))
        if payload:
            self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = handle_one

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
threading.Thread(target=server.serve_forever, daemon=True).start()
endpoint = f"http://127.0.0.1:{server.server_address[1]}"
c = WebPubSubServiceClient.from_connection_string(
    f"Endpoint={endpoint};AccessKey=python-requests-key-0123456789abcdef;Version=1.0;", hub="chat", retry_total=0
)

# No message_ttl_seconds: the 1.3.0 `send_to_*` wrappers pass it on to `requests`, which
# raises TypeError (an SDK defect), so the comparison leaves it out.
c.send_to_all({"a": [1, "x"]}, excluded=["c1", "c2"], filter="userId eq 'o''neil'")
c.send_to_all("hello", content_type="text/plain")
c.send_to_all(b"\x00\x01\xff", content_type="application/octet-stream")
c.send_to_group("room 1/a", "hello", content_type="text/plain", excluded=["c3"], filter="'vip' in groups")
c.send_to_user("user/1", b"\x00\x01\xff", content_type="application/octet-stream", filter="connectionId ne 'c1'")
c.send_to_connection("conn#1", "just a string", content_type="application/json")
c.close_all_connections(excluded=["c1", "c2"], reason="maintenance & more")
c.close_group_connections("g", excluded=["c1"], reason="r")
c.close_user_connections("u ü", excluded=["c9"], reason="bye")
c.close_connection("c1", reason="kicked")
c.group_exists("g/1")
c.user_exists("u/1")
c.connection_exists("c/1")
c.add_connection_to_group("g/x", "c1")
c.remove_connection_from_group("g/x", "c1")
c.remove_connection_from_all_groups("c1")
c.add_user_to_group("g/x", "a/b")
c.remove_user_from_group("g/x", "a/b")
c.remove_user_from_all_groups("a/b")
c.grant_permission("sendToGroup", "c/1", target_name="room 1")
c.revoke_permission("joinLeaveGroup", "c1")
c.has_permission("joinLeaveGroup", "c1", target_name="g")
list(c.list_connections(group="g/1", top=3))

server.shutdown()
print("[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in recorded) + "\n]")
