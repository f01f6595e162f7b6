module.exports = {
  contentfulmanagementtoken: "CFPAT-zq_0lLW_tiW0P78cul0NKLtl_bZylygVa6F0taesqqz",
  host: "0.0.0.0",
  timezone: "UTC",
  port: "8080",
  featureflags: "search,export",
  appenv: "production",
  commitsha: "9f2c1e7b4d3a8c6e5f1a2b3c4d5e6f7a8b9c0d1e",
};
