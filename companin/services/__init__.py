"""The work behind the views: plain functions, no Flask, raising `companin.errors`."""
