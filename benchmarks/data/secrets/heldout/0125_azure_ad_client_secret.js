module.exports = {
  clientsecret: "cVL3Q~1LwuuL6AZjttDYf2pv47OEarJ3gfHnMnS3",
  buildid: "20240611.3",
  port: "8080",
  host: "0.0.0.0",
  region: "eu-west-1",
};
