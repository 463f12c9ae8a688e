#!/usr/bin/env python3
"""Edits a config.json for the importer's error tests.

    cfg_edit.py FILE set KEY JSON_VALUE [KEY JSON_VALUE ...]   set keys (values parsed as JSON)
    cfg_edit.py FILE del KEY [KEY ...]                         delete keys
    cfg_edit.py FILE text OLD NEW                              replace text (to break the JSON)
"""
import json
import sys


def main(argv):
    path, op, args = argv[1], argv[2], argv[3:]
    if op == "text":
        with open(path) as f:
            text = f.read()
        if args[0] not in text:
            sys.exit(f"cfg_edit.py: {args[0]!r} not in {path}")
        with open(path, "w") as f:
            f.write(text.replace(args[0], args[1], 1))
        return
    with open(path) as f:
        config = json.load(f)
    if op == "set":
        for key, value in zip(args[0::2], args[1::2]):
            config[key] = json.loads(value)
    elif op == "del":
        for key in args:
            del config[key]
    else:
        sys.exit(f"cfg_edit.py: unknown operation {op!r}")
    with open(path, "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv)
