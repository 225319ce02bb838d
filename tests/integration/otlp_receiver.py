# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""A test OTLP/HTTP receiver: decodes POST /v1/traces with the official generated
classes (Debian's python3-opentelemetry-proto), so it runs on Debian's /usr/bin/python3.

    /usr/bin/python3 otlp_receiver.py OUT.jsonl [FAIL_FIRST]

Prints 'READY PORT' once listening on 127.0.0.1 (an ephemeral port). Each span becomes
one JSON line in OUT.jsonl: ids in hex, kind and status code as numbers, attributes of
the span and of its resource as dicts, and the request's content type and any
authorization header. A line is written (and flushed) before the 200 goes out, so
what the sender saw accepted is in the file. The first FAIL_FIRST POSTs (default 0) get
503 and are not written, as an overloaded collector does. A body that does not decode gets 400 and a
'bad' line."""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts


def _value(v):
	kind = v.WhichOneof('value')
	return getattr(v, kind) if kind else None


def _attrs(kvs):
	return {kv.key: _value(kv.value) for kv in kvs}


def _spans(req, headers):
	for rs in req.resource_spans:
		res = _attrs(rs.resource.attributes)
		for ss in rs.scope_spans:
			for s in ss.spans:
				yield {
					'trace_id': s.trace_id.hex(), 'span_id': s.span_id.hex(),
					'parent_span_id': s.parent_span_id.hex(), 'name': s.name,
					'kind': s.kind, 'start': s.start_time_unix_nano,
					'end': s.end_time_unix_nano, 'attrs': _attrs(s.attributes),
					'status': s.status.code, 'status_message': s.status.message,
					'resource': res, 'scope': ss.scope.name, 'headers': headers,
				}


class Handler(BaseHTTPRequestHandler):
	def do_POST(self):
		body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
		headers = {'content-type': self.headers.get('Content-Type'),
			   'authorization': self.headers.get('Authorization'),
			   'path': self.path}
		req = ts.ExportTraceServiceRequest()
		with self.server.lock:
			refuse = self.server.fail_first > 0
			self.server.fail_first -= refuse
		if refuse:
			self.send_response(503)
			self.send_header('Content-Length', '0')
			self.end_headers()
			return
		try:
			req.ParseFromString(body)
			lines = [json.dumps(s) for s in _spans(req, headers)]
			code = 200 if self.path == '/v1/traces' else 404
		except (DecodeError, UnicodeDecodeError) as e:
			lines, code = [json.dumps({'bad': repr(e), 'headers': headers})], 400
		with self.server.lock:
			for l in lines:
				self.server.out.write(l + '\n')
			self.server.out.flush()
		reply = ts.ExportTraceServiceResponse().SerializeToString()
		self.send_response(code)
		self.send_header('Content-Type', 'application/x-protobuf')
		self.send_header('Content-Length', str(len(reply)))
		self.end_headers()
		self.wfile.write(reply)

	def log_message(self, fmt, *args):
		pass


def main():
	import threading
	srv = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
	srv.out = open(sys.argv[1], 'a')
	srv.lock = threading.Lock()
	srv.fail_first = int(sys.argv[2]) if len(sys.argv) > 2 else 0
	print('READY %d' % srv.server_address[1], flush=True)
	srv.serve_forever()


if __name__ == '__main__':
	main()
