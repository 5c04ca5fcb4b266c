# A stand-in for the parts of nixpkgs' `lib` that fixup-hooks' expressions (flake.nix,
# nix/*.nix) and the offline stand-ins use, written with builtins to behave as nixpkgs' does
# for these inputs. callPackage's overriding is nixpkgs' in the point that matters to a
# flake: a function's result that is an attribute set — a derivation or not — gains
# `override` and `overrideDerivation`.
let
  lib = rec {
    inherit (builtins)
      attrNames
      attrValues
      concatStringsSep
      elem
      filter
      functionArgs
      intersectAttrs
      isAttrs
      isFunction
      isList
      isString
      mapAttrs
      removeAttrs
      ;

    fix = f: let x = f x; in x;
    id = x: x;
    optional = cond: x: if cond then [ x ] else [ ];
    optionals = cond: xs: if cond then xs else [ ];
    optionalAttrs = cond: as: if cond then as else { };
    optionalString = cond: s: if cond then s else "";
    concatMapStringsSep = sep: f: list: builtins.concatStringsSep sep (map f list);
    # A package's dev output (headers, pkg-config files) where it has one, as nixpkgs'
    # getDev: the stand-ins have one output, so mostly the package itself.
    getDev = pkg: pkg.dev or pkg.out or pkg;
    hasPrefix = prefix: s: builtins.substring 0 (builtins.stringLength prefix) s == prefix;

    genAttrs =
      names: f:
      builtins.listToAttrs (
        map (n: {
          name = n;
          value = f n;
        }) names
      );
    filterAttrs =
      pred: set:
      builtins.listToAttrs (
        builtins.concatMap (
          name:
          let
            value = set.${name};
          in
          if pred name value then [ { inherit name value; } ] else [ ]
        ) (builtins.attrNames set)
      );
    isDerivation = x: builtins.isAttrs x && x.type or null == "derivation";

    # Like nixpkgs' (since 2023): words of safe characters stay unquoted.
    escapeShellArg =
      arg:
      let
        s = toString arg;
      in
      if builtins.match "[[:alnum:],._+:@%/-]+" s != null then
        s
      else
        "'${builtins.replaceStrings [ "'" ] [ "'\\''" ] s}'";
    escapeShellArgs = args: concatStringsSep " " (map escapeShellArg args);

    licenses.mit = {
      spdxId = "MIT";
      shortName = "mit";
      free = true;
    };
    platforms.linux = [
      "aarch64-linux"
      "x86_64-linux"
    ];
    fetchers.proxyImpureEnvVars = [
      "http_proxy"
      "https_proxy"
      "ftp_proxy"
      "all_proxy"
      "no_proxy"
      "HTTP_PROXY"
      "HTTPS_PROXY"
      "FTP_PROXY"
      "ALL_PROXY"
      "NO_PROXY"
    ];

    # nixpkgs' lib.fileset, for files and directories given as paths: the store path
    # "source" holding exactly them (and the directories leading to them) under root.
    fileset = {
      unions = paths: { _standinFileset = paths; };
      toSource =
        { root, fileset }:
        let
          wanted = map toString (fileset._standinFileset or [ fileset ]);
          rootStr = toString root;
        in
        builtins.path {
          name = "source";
          path = root;
          filter =
            path: type:
            builtins.any (
              w: path == w || hasPrefix "${w}/" path || (type == "directory" && hasPrefix "${path}/" w)
            ) wanted
            && hasPrefix rootStr path;
        };
    };

    # nixpkgs' makeOverridable: an attribute-set result gains override/overrideDerivation
    # (and overrideAttrs, kept overridable, when it has one); a function result becomes a
    # functor with override.
    makeOverridable =
      f: origArgs:
      let
        result = f origArgs;
        overrideWith = newArgs: origArgs // (if isFunction newArgs then newArgs origArgs else newArgs);
        override = newArgs: makeOverridable f (overrideWith newArgs);
      in
      if isAttrs result then
        result
        // {
          inherit override;
          overrideDerivation = fdrv: makeOverridable (args: (f args).overrideDerivation fdrv) origArgs;
        }
        // optionalAttrs (result ? overrideAttrs) {
          overrideAttrs = fdrv: makeOverridable (args: (f args).overrideAttrs fdrv) origArgs;
        }
      else if isFunction result then
        {
          __functor = self: result;
          inherit override;
        }
      else
        result;

    callPackageWith =
      autoArgs: fn: args:
      let
        f = if isFunction fn then fn else import fn;
      in
      makeOverridable f (intersectAttrs (functionArgs f) autoArgs // args);
  };
in
lib
