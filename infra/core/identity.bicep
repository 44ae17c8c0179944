// The app's one user-assigned managed identity (UAMI).
// A UAMI exists before the site, so its role assignments can be granted (and propagate)
// before the function app first starts, and the Flex deployment container can use it at
// creation time. Every consumer is told its client id (AzureWebJobsStorage__clientId,
// AZURE_CLIENT_ID, APPLICATIONINSIGHTS_AUTHENTICATION_STRING).

@description('Name of the user-assigned managed identity.')
param name string

@description('Azure region.')
param location string

@description('Tags applied to the identity.')
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output principalId string = identity.properties.principalId
output clientId string = identity.properties.clientId
