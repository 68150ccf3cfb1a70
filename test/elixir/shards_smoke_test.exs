defmodule ShardsSmokeTest do
  use ExUnit.Case, async: true

  doctest Shards

  test "the NIF library is found in the application's priv dir" do
    priv = :code.priv_dir(:shards)
    assert is_list(priv)
    assert File.exists?(Path.join(priv, "libshards_nif.so"))
  end

  test "new/insert/lookup through :shards" do
    tab = :shards.new(:t, [])
    assert :shards.insert(tab, {:a, 1})
    assert :shards.lookup(tab, :a) == [{:a, 1}]
    assert :shards.lookup(tab, :missing) == []
    assert :shards.delete(tab)
  end

  test "the Elixir wrapper delegates to :shards" do
    tab = Shards.new(:shards_smoke_wrapper, [:set])
    assert Shards.insert(tab, [{:x, 1}, {:y, 2}])
    assert Shards.member(tab, :x)
    assert Shards.lookup_element(tab, :y, 2) == 2
    assert Enum.sort(Shards.tab2list(tab)) == [{:x, 1}, {:y, 2}]
    assert Shards.delete(tab)
  end
end
