defmodule MixAppTest do
  use ExUnit.Case

  test "run/0 round-trips a value through a shards table" do
    assert MixApp.run() == "hello from shards"
  end
end
