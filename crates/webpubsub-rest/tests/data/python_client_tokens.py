# Regenerates python_client_tokens.json: client access tokens minted by the official Python SDK
# (azure-messaging-webpubsubservice 1.3.0) for fixed inputs, decoded. tests/auth.rs compares
# the tokens of webpubsub-rest for the same inputs against it.
#
#   python3 -m venv /tmp/wps-py && /tmp/wps-py/bin/pip install azure-messaging-webpubsubservice==1.3.0
#   /tmp/wps-py/bin/python python_client_tokens.py > python_client_tokens.json
import json, jwt
from azure.messaging.webpubsubservice import WebPubSubServiceClient
cs = "Endpoint=https://demo.webpubsub.azure.com;AccessKey=interop-access-key-0123456789ABCDEFGH;Version=1.0;"
c = WebPubSubServiceClient.from_connection_string(cs, hub="chat")
out = {}
for proto in ["Default", "MQTT", "SocketIO"]:
    t = c.get_client_access_token(user_id="alice", roles=["webpubsub.sendToGroup.room1", "webpubsub.joinLeaveGroup"], groups=["room1", "room2"], minutes_to_expire=5, client_protocol=proto)
    claims = jwt.decode(t["token"], "interop-access-key-0123456789ABCDEFGH", algorithms=["HS256"], options={"verify_aud": False})
    out[proto] = {"baseUrl": t["baseUrl"], "url_prefix": t["url"].split("access_token=")[0], "header": jwt.get_unverified_header(t["token"]), "claims": claims}
bare = c.get_client_access_token()
out["bare"] = jwt.decode(bare["token"], "interop-access-key-0123456789ABCDEFGH", algorithms=["HS256"], options={"verify_aud": False})
print(json.dumps(out, indent=1))
