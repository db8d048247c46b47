"""The sandbox cluster demo: a stack rendered, run on namespace 'nodes', checked with packets."""
