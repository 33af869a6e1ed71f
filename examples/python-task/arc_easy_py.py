#!/usr/bin/python3
"""arc_easy_py: ARC-Easy as a memscope task plugin written in Python.

The same task as memscope's Go arc_easy (lm-evaluation-harness v0.4 zero-shot:
context "Question: {question}\nAnswer:", one loglikelihood request per choice
with the continuation " " + choice, acc and acc_norm), so the two can be
checked against each other document by document.

memscope starts this file as a plugin process: install it under a plugin
name (`go tool task python-task` links it as bin/memscope-task-arc_easy_py)
and run `memscope run --tasks arc_easy_py`. The wire protocol and the
handshake it performs are described step by step in docs/plugin-protocol.md;
the functions below follow that document's sections.

Needs Python 3 with grpcio and protobuf (Debian: python3-grpcio,
python3-protobuf) and stubs generated from plugins/proto with grpc_tools
(python3-grpc-tools) into gen/ beside this file (`go tool task python-task`
does it).
"""

import json
import math
import os
import sys
import threading
import time
from concurrent import futures

HERE = os.path.dirname(os.path.realpath(__file__))
sys.path.insert(0, os.path.join(HERE, "gen"))

try:
    import grpc
    from goplugin import controller_pb2, controller_pb2_grpc, health_pb2, health_pb2_grpc
    from memscope.plugin.v1 import plugin_pb2 as pb
    from memscope.plugin.v1 import plugin_pb2_grpc as pb_grpc
except ImportError as e:  # say what to install, on stderr: memscope shows it
    sys.stderr.write(
        "arc_easy_py: %s: install python3-grpcio, python3-protobuf and python3-grpc-tools, "
        "then generate the stubs with `go tool task python-task`\n" % e)
    sys.exit(1)

# ----------------------------------------------------------------- the task

NAME = "arc_easy_py"
VERSION = "1"
DEFAULT_DATA = os.path.normpath(os.path.join(HERE, "..", "..", "tasks", "arc_easy", "data",
                                             "arc_easy_test.derived.jsonl"))
OPTIONS = [pb.OptionInfo(name="data", default=DEFAULT_DATA,
                         help='JSON lines {"question", "choices": [...], "gold": 0-based index} '
                              "(default: the 200 ARC-Easy test questions memscope ships)")]


class TaskError(Exception):
    """A user-facing error: sent to memscope as the call's gRPC status."""


def load_docs(path):
    """Reads every document: (index, context, choices, gold)."""
    docs = []
    try:
        f = open(path, encoding="utf-8")
    except OSError as e:
        raise TaskError("%s: cannot open data: %s (pass --task-opt %s.data=PATH)" % (NAME, e, NAME))
    with f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = "%s:%d" % (path, line_no)
            try:
                obj = json.loads(line)
                question, choices, gold = obj["question"], obj["choices"], obj["gold"]
            except (ValueError, KeyError, TypeError) as e:
                raise TaskError("%s: %s: not a JSON object with question, choices and gold (%s)" % (NAME, where, e))
            if not isinstance(choices, list) or len(choices) < 2 or not all(isinstance(c, str) for c in choices):
                raise TaskError("%s: %s: choices must be a list of at least 2 strings" % (NAME, where))
            if not isinstance(gold, int) or isinstance(gold, bool) or not 0 <= gold < len(choices):
                raise TaskError("%s: %s: gold %r out of range for %d choices" % (NAME, where, gold, len(choices)))
            docs.append((len(docs), "Question: " + question + "\nAnswer:", choices, gold))
    return docs


def select_docs(docs, opts):
    """Applies memscope's document selection: the ranges (inclusive, unioned,
    in ascending order; none means all), then the limit."""
    if opts.limit < 0:
        raise TaskError("%s: limit %d is negative" % (NAME, opts.limit))
    n = len(docs)
    ranges = list(opts.docs.values) if opts.HasField("docs") else []
    keep = [not ranges] * n
    for r in ranges:
        if r.first < 0 or r.last < r.first:
            raise TaskError("%s: bad document range %d-%d (want 0 <= first <= last)" % (NAME, r.first, r.last))
        for i in range(r.first, min(r.last, n - 1) + 1):
            keep[i] = True
    out = [d for d, k in zip(docs, keep) if k]
    if opts.limit > 0:
        out = out[:opts.limit]
    if not out:
        raise TaskError("%s: no documents selected: the data has %d documents" % (NAME, n))
    return out


def selected_docs(opts):
    given = dict(opts.options.values) if opts.HasField("options") else {}
    unknown = sorted(set(given) - {o.name for o in OPTIONS})
    if unknown:
        raise TaskError("%s: unknown option %s (valid options: data; set them with --task-opt %s.KEY=VALUE)"
                        % (NAME, ", ".join('"%s"' % k for k in unknown), NAME))
    return select_docs(load_docs(given.get("data") or DEFAULT_DATA), opts)


def requests(docs):
    """One loglikelihood request per choice, document by document."""
    out = []
    for index, context, choices, _ in docs:
        for i, choice in enumerate(choices):
            out.append(pb.Request(doc_index=index, index=i, loglikelihood=pb.LoglikelihoodRequest(
                context=context.encode("utf-8"), continuation=(" " + choice).encode("utf-8"))))
    return out


def argmax(xs):
    """numpy's argmax, as lm-eval uses it: the first maximum wins, a NaN counts as the maximum."""
    best = -1
    for i, x in enumerate(xs):
        if math.isnan(x):
            return i
        if best < 0 or x > xs[best]:
            best = i
    return best


def mean_metric(name, xs):
    """The mean and its closed-form standard error (sample sd / sqrt(n)), as lm-eval's mean_stderr."""
    n = len(xs)
    total = 0.0
    for x in xs:  # in order, as Go does (Python 3.12's sum() compensates, and would differ in the last bit)
        total += x
    mean = total / n
    stderr = math.nan
    if n > 1:
        ss = 0.0
        for x in xs:
            ss += (x - mean) * (x - mean)
        stderr = math.sqrt(ss / (n - 1)) / math.sqrt(n)
    return pb.MetricValue(name=name, value=mean, stderr=stderr, n=n, higher_is_better=True)


def score(opts, reqs, resps):
    """acc = [argmax(ll) == gold], acc_norm = [argmax(ll / len(choice)) == gold]."""
    docs = selected_docs(opts)
    want = requests(docs)
    if len(reqs) != len(want) or len(resps) != len(want):
        raise TaskError("%s: got %d requests and %d responses, want %d" % (NAME, len(reqs), len(resps), len(want)))
    for k, (got, exp) in enumerate(zip(reqs, want)):
        if got != exp:
            raise TaskError("%s: request %d is not the one this task made (doc %d choice %d)"
                            % (NAME, k, exp.doc_index, exp.index))
        if not resps[k].HasField("loglikelihood"):
            raise TaskError("%s: response %d is not a loglikelihood result" % (NAME, k))
    doc_scores, acc, acc_norm, k = [], [], [], 0
    for index, _, choices, gold in docs:
        lls = [resps[k + i].loglikelihood.log_likelihood for i in range(len(choices))]
        k += len(choices)
        pred = argmax(lls)
        a = 1.0 if pred == gold else 0.0
        an = 1.0 if argmax([ll / len(c) for ll, c in zip(lls, choices)]) == gold else 0.0
        acc.append(a)
        acc_norm.append(an)
        doc_scores.append(pb.DocScore(doc_index=index, gold=gold, prediction=pred,
                                      choice_log_likelihoods=pb.DoubleList(values=lls),
                                      metrics=pb.DoubleMap(values={"acc": a, "acc_norm": an})))
    return doc_scores, [mean_metric("acc", acc), mean_metric("acc_norm", acc_norm)]


def describe():
    return pb.TaskInfo(
        name=NAME, version=VERSION, output_type="multiple_choice", category="reasoning",
        metrics=pb.MetricInfoList(values=[pb.MetricInfo(name="acc", higher_is_better=True, per_doc=True),
                                          pb.MetricInfo(name="acc_norm", higher_is_better=True, per_doc=True)]),
        data_files=pb.StringList(values=[DEFAULT_DATA]),
        options=pb.OptionInfoList(values=OPTIONS),
        description='ARC-Easy in Python (the Go arc_easy task\'s twin), lm-eval v0.4 zero-shot: '
                    'context "Question: {question}\\nAnswer:", choices " "+each answer; acc and acc_norm.')

# ------------------------------------------------------- the gRPC services

CHUNK_BYTES = 1 << 20  # streamed lists travel in messages of about 1 MiB
MAX_MESSAGE_BYTES = 256 << 20  # memscope's message limit


def chunks(items):
    """Splits items into runs of about CHUNK_BYTES encoded bytes; always at
    least one run, so the first message can carry the list's header."""
    run, size = [], 0
    for it in items:
        n = it.ByteSize() + 8
        if run and size + n > CHUNK_BYTES:
            yield run
            run, size = [], 0
        run.append(it)
        size += n
    if run or not items:
        yield run


def list_info(items):
    return pb.ListInfo(len=len(items), nil=False)


def fail(context, err):
    """Ends the call with err's message, which memscope shows the user."""
    code = grpc.StatusCode.INVALID_ARGUMENT if isinstance(err, TaskError) else grpc.StatusCode.INTERNAL
    log("error", str(err))
    context.abort(code, str(err))


class TaskServicer(pb_grpc.TaskServicer):
    def Describe(self, request, context):
        return describe()

    def Requests(self, opts, context):
        try:
            reqs = requests(selected_docs(opts))
        except Exception as e:  # noqa: BLE001 - every failure goes back to memscope as a status
            fail(context, e)
        first = True
        for run in chunks(reqs):
            msg = pb.RequestsChunk(values=run)
            if first:
                msg.requests.CopyFrom(list_info(reqs))
                first = False
            yield msg

    def Score(self, request_iterator, context):
        header, reqs, resps = None, [], []
        for msg in request_iterator:
            if header is None:
                if msg.WhichOneof("msg") != "header":
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT, "protocol error: the call did not start with a header")
                header = msg.header
                continue
            if msg.WhichOneof("msg") != "chunk":
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "protocol error: a second header")
            reqs.extend(msg.chunk.requests)
            resps.extend(msg.chunk.responses)
        if header is None or len(reqs) != header.requests.len or len(resps) != header.responses.len:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "protocol error: the request and response counts do not match the header")
        try:
            doc_scores, metrics = score(header.options, reqs, resps)
        except Exception as e:  # noqa: BLE001
            fail(context, e)
        yield pb.ScoreOut(docs=list_info(doc_scores), metrics=list_info(metrics))
        if doc_scores:
            for run in chunks(doc_scores):
                yield pb.ScoreOut(doc_values=run)
        yield pb.ScoreOut(metric_values=metrics)


class PluginServicer(pb_grpc.PluginServicer):
    def Identify(self, request, context):
        return pb.Identity(kind="task", protocol=PROTOCOL_VERSION, executable=sys.argv[0])


class HealthServicer(health_pb2_grpc.HealthServicer):
    def Check(self, request, context):
        return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)


class ControllerServicer(controller_pb2_grpc.GRPCControllerServicer):
    def __init__(self, stop):
        self.stop = stop

    def Shutdown(self, request, context):
        self.stop.set()
        return controller_pb2.Empty()

# ------------------------------------------------------------ the handshake

COOKIE_KEY, COOKIE_VALUE = "MEMSCOPE_PLUGIN", "4f1c9a7e2b6d4e83a05f7d19c2e8b361"
CORE_PROTOCOL_VERSION = 1  # go-plugin's
PROTOCOL_VERSION = 1  # memscope's plugin protocol: memscope.plugin.v1

LEVELS = ["trace", "debug", "info", "warn", "error"]
LOG_LEVEL = os.environ.get("MEMSCOPE_PLUGIN_LOG_LEVEL", "info").lower()


def log(level, message, **fields):
    """One JSON log line on stderr, which memscope shows under the plugin's name."""
    if LOG_LEVEL in LEVELS and LEVELS.index(level) < LEVELS.index(LOG_LEVEL):
        return
    line = {"@level": level, "@message": message,
            "@timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())}
    line.update(fields)
    sys.stderr.write(json.dumps(line) + "\n")
    sys.stderr.flush()


def main():
    # 1. The magic cookie: memscope sets it; without it this was run by hand.
    if os.environ.get(COOKIE_KEY) != COOKIE_VALUE:
        sys.stderr.write("%s is a memscope task plugin: it is not meant to be run by hand; "
                         "memscope starts it (memscope run --tasks %s)\n" % (os.path.basename(sys.argv[0]), NAME))
        return 1
    # 2. The protocol versions the host speaks.
    offered = os.environ.get("PLUGIN_PROTOCOL_VERSIONS", "").split(",")
    if str(PROTOCOL_VERSION) not in offered:
        sys.stderr.write("%s speaks memscope plugin protocol %d; this memscope offers %s\n"
                         % (NAME, PROTOCOL_VERSION, ",".join(offered)))
        return 1
    # 3. Serve every service on a Unix socket in the folder memscope gave
    #    (or on a loopback TCP port where it gave none).
    stop = threading.Event()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=[
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES)])
    pb_grpc.add_PluginServicer_to_server(PluginServicer(), server)
    pb_grpc.add_TaskServicer_to_server(TaskServicer(), server)
    health_pb2_grpc.add_HealthServicer_to_server(HealthServicer(), server)
    controller_pb2_grpc.add_GRPCControllerServicer_to_server(ControllerServicer(stop), server)
    socket_dir = os.environ.get("PLUGIN_UNIX_SOCKET_DIR")
    if socket_dir:
        network, address = "unix", os.path.join(socket_dir, "plugin-%d.sock" % os.getpid())
        server.add_insecure_port("unix:" + address)
    else:
        network = "tcp"
        address = "127.0.0.1:%d" % server.add_insecure_port("127.0.0.1:0")
    server.start()
    # 4. The handshake line, the only thing ever written to stdout.
    sys.stdout.write("%d|%d|%s|%s|grpc\n" % (CORE_PROTOCOL_VERSION, PROTOCOL_VERSION, network, address))
    sys.stdout.flush()
    log("debug", "serving", network=network, address=address)
    # 5. Serve until memscope calls GRPCController.Shutdown (or kills us).
    stop.wait()
    server.stop(grace=1).wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
